package fmp4

import "errors"

// Errors returned by this package, wrapped with context; test with errors.Is.
var (
	// ErrInvalidTrack reports a track description that cannot be written.
	ErrInvalidTrack = errors.New("fmp4: invalid track")
	// ErrInvalidSample reports a sample list that cannot be written.
	ErrInvalidSample = errors.New("fmp4: invalid sample")
	// ErrCodecConfig reports codec private data that cannot be parsed.
	ErrCodecConfig = errors.New("fmp4: invalid codec configuration")
	// ErrSampleSize reports sample data whose length differs from the size
	// given to NewClipWriter, or more or fewer samples than announced.
	ErrSampleSize = errors.New("fmp4: sample data does not match the sample table")
	// ErrInvalidSegment reports a media segment AppendRebased cannot read.
	ErrInvalidSegment = errors.New("fmp4: invalid media segment")
)
