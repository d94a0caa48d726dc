package h26x

import "errors"

// Errors returned by the parsers in this package. They are wrapped with
// context; test for them with errors.Is.
var (
	// ErrTruncated reports data that ends before the structure it holds.
	ErrTruncated = errors.New("h26x: truncated data")
	// ErrInvalid reports a value the specification does not allow.
	ErrInvalid = errors.New("h26x: invalid data")
	// ErrUnsupported reports a valid structure this package does not handle.
	ErrUnsupported = errors.New("h26x: unsupported")
)
