#!/usr/bin/env python3
"""Writes the Price List pages of the offline `prices update` tests from the project's shared price data.

    python3 pricing/testdata/pricelist/make_pages.py ../shared/data/prices pricing/testdata/pricelist
"""
import csv
import json
import sys

src, out = sys.argv[1], sys.argv[2]
lam = json.load(open(src + "/aws_lambda_pricing_us_east_1.json"))
rows = {r["instance_type"]: r for r in csv.DictReader(open(src + "/ec2_instances_us_east_1.csv"))}
RATES = ["6YS6EN2CT7", "7H3RPAMZ4N", "8EEUB22XNJ"]


def product(sku, family, attrs, dims):
    """One PriceList entry: a product and its on-demand terms, as the JSON string GetProducts returns."""
    term = sku + ".JRTCKXETXF"
    pd = {}
    for i, (unit, begin, end, usd, desc) in enumerate(dims):
        key = term + "." + RATES[i]
        pd[key] = {"unit": unit, "endRange": end, "description": desc, "appliesTo": [], "rateCode": key,
                   "beginRange": begin, "pricePerUnit": {"USD": usd}}
    return json.dumps({"product": {"productFamily": family, "attributes": attrs, "sku": sku},
                       "serviceCode": attrs["servicecode"],
                       "terms": {"OnDemand": {term: {"priceDimensions": pd, "sku": sku, "effectiveDate": "2026-07-01T00:00:00Z",
                                                     "offerTermCode": "JRTCKXETXF", "termAttributes": {}}}},
                       "version": "20260701000000", "publicationDate": "2026-07-01T00:00:00Z"}, separators=(",", ":"))


def lambda_attrs(group, usagetype, desc):
    return {"regionCode": "us-east-1", "servicecode": "AWSLambda", "groupDescription": desc, "usagetype": usagetype,
            "locationType": "AWS Region", "location": "US East (N. Virginia)", "servicename": "AWS Lambda", "operation": "",
            "group": group}


def money(v):
    return "%.10f" % v


entries = []
for arch, suffix, sku in [("x86_64", "", "TG3M4CAGBA3NYQBH"), ("arm64", "-ARM", "HF7N6NNE7N8GDME4")]:
    dims = [("Lambda-GB-Second", str(int(t["from_gb_s_per_month"])),
             "Inf" if t["to_gb_s_per_month"] is None else str(int(t["to_gb_s_per_month"])), money(t["usd_per_gb_s"]),
             "AWS Lambda - Total Compute - US East (Northern Virginia)") for t in lam["duration_usd_per_gb_second"][arch]]
    entries.append(product(sku, "Serverless", lambda_attrs("AWS-Lambda-Duration" + suffix, "Lambda-GB-Second" + suffix, "Invocation duration"), dims))
    entries.append(product(sku[::-1], "Serverless", lambda_attrs("AWS-Lambda-Requests" + suffix, "Request" + suffix, "Invocation call for a Lambda function"),
                           [("Requests", "0", "Inf", money(lam["requests"]["usd_per_request"]), "AWS Lambda - Total Requests - US East (Northern Virginia)")]))
# groups plans do not use
entries.append(product("BMKCD2ZCEYKTYYCB", "Serverless", lambda_attrs("AWS-Lambda-Provisioned-Concurrency", "Lambda-Provisioned-Concurrency", "Provisioned concurrency"),
                       [("Lambda-GB-Second", "0", "Inf", money(0.0000041667), "Provisioned concurrency")]))
entries.append(product("Z9ZKCCNZMN2PJUAQ", "Serverless", lambda_attrs("AWS-Lambda-Ephemeral-Storage", "Lambda-Provisioned-GB-Second", "Ephemeral storage"),
                       [("GB-Seconds", "0", "Inf", money(0.0000000309), "Ephemeral storage above 512 MB")]))
json.dump({"FormatVersion": "aws_v1", "PriceList": entries}, open(out + "/AWSLambda-1.json", "w"), indent=1)

SAMPLE = ["c6i.xlarge", "c7g.xlarge", "g4dn.xlarge", "g5.xlarge", "g6.xlarge", "g6e.xlarge", "inf2.xlarge", "p3.2xlarge",
          "p4d.24xlarge", "p5.48xlarge", "m7i.large", "r6g.medium"]


def instance(t, i, usd=None):
    r = rows[t]
    attrs = {"regionCode": "us-east-1", "servicecode": "AmazonEC2", "instanceType": t,
             "instanceFamily": "GPU instance" if r["gpu_name"] else "General purpose", "vcpu": r["vcpus"],
             "memory": "%g GiB" % float(r["memory_gib"]), "operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA",
             "capacitystatus": "Used", "marketoption": "OnDemand", "licenseModel": "No License required", "usagetype": "BoxUsage:" + t,
             "operation": "RunInstances",
             "physicalProcessor": "AWS Graviton3 Processor" if r["arch"] == "arm64" else ("Intel Xeon" if r["cpu_manufacturer"] == "intel" else "AMD EPYC"),
             "location": "US East (N. Virginia)", "locationType": "AWS Region"}
    if r["gpu_count"] and r["gpu_count"] != "0":
        attrs["gpu"] = r["gpu_count"]
    price = usd if usd is not None else "%.10f" % float(r["on_demand_usd_per_hour_us_east_1"])
    return product("EC2SKU%04d%s" % (i, t.replace(".", "").upper()[:6]), "Compute Instance", attrs,
                   [("Hrs", "0", "Inf", price, "On Demand Linux %s Instance Hour" % t)])


ec2 = [instance(t, i) for i, t in enumerate(SAMPLE)]
zero = instance("m7i.large", 99, usd="0.0000000000")  # a zero-price placeholder: skipped
json.dump({"FormatVersion": "aws_v1", "PriceList": ec2[:6], "NextToken": "page2"}, open(out + "/AmazonEC2-1.json", "w"), indent=1)
json.dump({"FormatVersion": "aws_v1", "PriceList": ec2[6:] + [zero]}, open(out + "/AmazonEC2-2.json", "w"), indent=1)
