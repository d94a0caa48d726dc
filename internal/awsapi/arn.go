package awsapi

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ARN is a parsed Kinesis Video Streams resource ARN:
// arn:PARTITION:kinesisvideo:REGION:ACCOUNT:TYPE/NAME/CREATION_MILLIS.
type ARN struct {
	Partition string
	Region    string
	Account   string
	// Type is "stream" or "channel".
	Type string
	Name string
	// Created is the resource's creation time in epoch milliseconds.
	Created int64
}

// arnPattern is the ResourceARN pattern of the kinesisvideo service model.
var arnPattern = regexp.MustCompile(`^arn:[a-z\d-]+:kinesisvideo:[a-z0-9-]+:[0-9]+:[a-z]+/[a-zA-Z0-9_.-]+/[0-9]+$`)

// ParseARN parses a KVS resource ARN. It returns an InvalidArgumentException
// for anything that does not match the service model's pattern.
func ParseARN(s string) (ARN, error) {
	if len(s) == 0 || len(s) > 1024 || !arnPattern.MatchString(s) {
		return ARN{}, Errorf(InvalidArgument, "invalid ARN %q", truncate(s, 200))
	}
	parts := strings.SplitN(s, ":", 6)
	res := strings.Split(parts[5], "/")
	created, err := strconv.ParseInt(res[2], 10, 64)
	if err != nil {
		return ARN{}, Errorf(InvalidArgument, "invalid ARN %q", truncate(s, 200))
	}
	return ARN{Partition: parts[1], Region: parts[3], Account: parts[4], Type: res[0], Name: res[1], Created: created}, nil
}

// String formats the ARN.
func (a ARN) String() string {
	p := a.Partition
	if p == "" {
		p = "aws"
	}
	return fmt.Sprintf("arn:%s:kinesisvideo:%s:%s:%s/%s/%d", p, a.Region, a.Account, a.Type, a.Name, a.Created)
}

// NewARN builds the ARN of a resource created at t.
func NewARN(region, account, typ, name string, t time.Time) string {
	return ARN{Partition: "aws", Region: region, Account: account, Type: typ, Name: name, Created: t.UnixMilli()}.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
