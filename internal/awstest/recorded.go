package awstest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// RecordedLambda replays the Lambda REST API's answers, as recorded from AWS (status codes, the X-Amzn-Errortype
// header, the error bodies), for the paths apply and the Lambda backend call; Fail maps "METHOD path-suffix" to an
// error to answer instead.
type RecordedLambda struct {
	mu       sync.Mutex
	Memory   int
	Versions map[string]int // version → memory
	Aliases  map[string]string
	Fail     map[string]AWSError
	Calls    []string
	Invoke   func(q string, body []byte) (status int, header map[string]string, payload string)
}

// AWSError is an error answer: HTTP status, X-Amzn-Errortype code and message.
type AWSError struct {
	Status int
	Code   string
	Msg    string
}

func (f *RecordedLambda) conf(w http.ResponseWriter, version string, mb int) {
	json.NewEncoder(w).Encode(map[string]any{"FunctionName": "encoder", "Version": version, "MemorySize": mb,
		"CodeSha256": "abc=", "Runtime": "python3.12", "Handler": "app.handler", "Timeout": 30,
		"Architectures": []string{"x86_64"}, "State": "Active", "LastUpdateStatus": "Successful"})
}

func (f *RecordedLambda) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, "/2015-03-31/functions/encoder")
	key := r.Method + " " + path
	f.Calls = append(f.Calls, key)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Requestid", "8d0a1c9e-rec")
	for k, e := range f.Fail {
		if k == key {
			w.Header().Set("X-Amzn-Errortype", e.Code)
			w.WriteHeader(e.Status)
			fmt.Fprintf(w, `{"Type":"User","message":%q}`, e.Msg)
			return
		}
	}
	body, _ := io.ReadAll(r.Body)
	switch {
	case key == "GET /configuration":
		if q := r.URL.Query().Get("Qualifier"); q != "" {
			f.conf(w, q, f.Versions[q])
			return
		}
		f.conf(w, "$LATEST", f.Memory)
	case key == "PUT /configuration":
		var in struct{ MemorySize int }
		json.Unmarshal(body, &in)
		f.Memory = in.MemorySize
		f.conf(w, "$LATEST", f.Memory)
	case key == "GET /versions":
		var vs []map[string]any
		for v, mb := range f.Versions {
			vs = append(vs, map[string]any{"Version": v, "MemorySize": mb, "CodeSha256": "abc=", "Runtime": "python3.12",
				"Handler": "app.handler", "Timeout": 30, "Architectures": []string{"x86_64"}})
		}
		json.NewEncoder(w).Encode(map[string]any{"Versions": vs})
	case key == "POST /versions":
		v := fmt.Sprint(len(f.Versions) + 1)
		f.Versions[v] = f.Memory
		w.WriteHeader(http.StatusCreated)
		f.conf(w, v, f.Memory)
	case key == "GET /aliases":
		var as []map[string]any
		for _, name := range slices.Sorted(maps.Keys(f.Aliases)) {
			as = append(as, map[string]any{"Name": name, "FunctionVersion": f.Aliases[name]})
		}
		json.NewEncoder(w).Encode(map[string]any{"Aliases": as})
	case strings.HasPrefix(key, "DELETE /aliases/"):
		delete(f.Aliases, strings.TrimPrefix(path, "/aliases/"))
		w.WriteHeader(http.StatusNoContent)
	case strings.HasPrefix(key, "GET /aliases/"):
		name := strings.TrimPrefix(path, "/aliases/")
		v, ok := f.Aliases[name]
		if !ok {
			w.Header().Set("X-Amzn-Errortype", "ResourceNotFoundException")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"Type":"User","Message":"Cannot find alias arn: arn:aws:lambda:us-east-1:123456789012:function:encoder:%s"}`, name)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"Name": name, "FunctionVersion": v})
	case key == "POST /aliases" || strings.HasPrefix(key, "PUT /aliases/"):
		var in struct{ Name, FunctionVersion string }
		json.Unmarshal(body, &in)
		if in.Name == "" {
			in.Name = strings.TrimPrefix(path, "/aliases/")
		}
		f.Aliases[in.Name] = in.FunctionVersion
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"Name": in.Name, "FunctionVersion": in.FunctionVersion})
	case key == "POST /invocations":
		status, hdr, payload := f.Invoke(r.URL.Query().Get("Qualifier"), body)
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, payload)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"message":"no route %s"}`, key)
	}
}

// NewRecordedLambda serves a RecordedLambda for function "encoder" at 1024 MB with no versions or aliases, for
// the test's duration, and returns it with its endpoint URL.
func NewRecordedLambda(t testing.TB) (*RecordedLambda, string) {
	f := &RecordedLambda{Memory: 1024, Versions: map[string]int{}, Aliases: map[string]string{}, Fail: map[string]AWSError{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

// AnonymousConfig is an AWS configuration for a fake endpoint: us-east-1, no credentials.
func AnonymousConfig() aws.Config {
	return aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}}
}

// LambdaClient is a Lambda client for endpoint (moto_server, a RecordedLambda) with the SDK's retries off, so a
// test sees every answer the fake gives.
func LambdaClient(cfg aws.Config, endpoint string) *lambda.Client {
	return lambda.NewFromConfig(cfg, func(o *lambda.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.RetryMaxAttempts = 1
	})
}
