// Command snapshotgen builds the embedded price snapshot (pricing/snapshot.json) from the project's shared price
// data: the Lambda price file and the EC2 instance CSV described in ../shared/data/prices/README.md.
//
//	go run ./pricing/internal/snapshotgen -src ../shared/data/prices -o pricing/snapshot.json
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/inferplan/inferplan/pricing"
)

func main() {
	src := flag.String("src", "../shared/data/prices", "folder with aws_lambda_pricing_us_east_1.json and ec2_instances_us_east_1.csv")
	out := flag.String("o", "pricing/snapshot.json", "output file")
	flag.Parse()
	lraw, err := os.ReadFile(filepath.Join(*src, pricing.LambdaPriceFile))
	if err != nil {
		fail(err)
	}
	eraw, err := os.ReadFile(filepath.Join(*src, pricing.EC2PriceFile))
	if err != nil {
		fail(err)
	}
	snap, err := pricing.BuildSnapshot(lraw, eraw, pricing.SnapshotAsOf)
	if err != nil {
		fail(err)
	}
	data, err := snap.Marshal()
	if err != nil {
		fail(err)
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "snapshotgen:", err)
	os.Exit(1)
}
