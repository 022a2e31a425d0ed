// Package awstest runs the tests that talk to AWS against moto_server, a local AWS endpoint installed on every
// build machine: it starts one on a free loopback port and creates the resources a test needs.
package awstest

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Moto starts moto_server for the test and returns its endpoint URL; the test is skipped where it is not
// installed. The server stops when the test ends.
func Moto(t testing.TB) string {
	t.Helper()
	moto, err := exec.LookPath("moto_server")
	if err != nil {
		t.Skip("moto_server not installed (pip install 'moto[server]')")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(moto, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; ; i++ {
		if resp, err := http.Get(url + "/moto-api/"); err == nil {
			resp.Body.Close()
			return url
		}
		if i > 150 {
			t.Fatal("moto_server did not start in 15 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Config is an AWS configuration with static test credentials in us-east-1.
func Config() aws.Config {
	return aws.Config{Region: "us-east-1", Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "testing", SecretAccessKey: "testing", Source: "awstest"}, nil
	})}
}

// CreateFunction creates a Python function with the given memory size and architecture through client, with an
// IAM role made at url.
func CreateFunction(t testing.TB, url string, client *lambda.Client, name string, memoryMB int32, arch types.Architecture) {
	t.Helper()
	ctx := context.Background()
	iamc := iam.NewFromConfig(Config(), func(o *iam.Options) { o.BaseEndpoint = aws.String(url) })
	role, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name + "-role"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	var zipped bytes.Buffer
	zw := zip.NewWriter(&zipped)
	w, _ := zw.Create("app.py")
	_, _ = w.Write([]byte("def handler(event, context):\n    return event\n"))
	_ = zw.Close()
	if _, err := client.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String(name), Role: role.Role.Arn,
		Runtime: types.RuntimePython312, Handler: aws.String("app.handler"), MemorySize: aws.Int32(memoryMB),
		Architectures: []types.Architecture{arch}, Code: &types.FunctionCode{ZipFile: zipped.Bytes()}}); err != nil {
		t.Fatal(err)
	}
}
