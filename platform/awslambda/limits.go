package awslambda

import "fmt"

// Lambda's memory range: 128 MB to 10,240 MB in 1 MB steps (AWS Lambda quotas, "Function memory allocation").
const (
	MinMemoryMB = 128
	MaxMemoryMB = 10240
)

// CheckMemory says why a memory size cannot be given to a Lambda function (nil when it can).
func CheckMemory(mb int) error {
	if mb < MinMemoryMB || mb > MaxMemoryMB {
		return fmt.Errorf("%d MB is outside Lambda's memory range, %d–%d MB", mb, MinMemoryMB, MaxMemoryMB)
	}
	return nil
}
