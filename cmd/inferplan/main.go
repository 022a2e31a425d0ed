// Command inferplan finds the cheapest way to serve a model within a latency SLO, on AWS Lambda or on a mix of
// CPUs and GPUs, and fails a CI build when a change makes serving more expensive.
package main

import "os"

func main() {
	os.Exit(Main(os.Args[1:], systemIO()))
}
