package mkv

import "errors"

// Sentinel errors. Every error the Reader returns for bad input wraps
// exactly one of them, so callers can map it with errors.Is (PutMedia maps
// ErrTooLarge to MAX_FRAGMENT_SIZE_REACHED and the rest to INVALID_MKV_DATA).
var (
	// ErrInvalid reports input that is not valid EBML/Matroska.
	ErrInvalid = errors.New("mkv: invalid data")
	// ErrTruncated reports input that ends inside an element. It also wraps
	// io.ErrUnexpectedEOF.
	ErrTruncated = errors.New("mkv: truncated data")
	// ErrTooLarge reports an element whose declared or accumulated size is
	// above the configured limit; nothing of that size is allocated.
	ErrTooLarge = errors.New("mkv: element too large")
	// ErrTooDeep reports nesting deeper than the configured limit.
	ErrTooDeep = errors.New("mkv: elements nested too deep")
	// ErrUnknownTrack reports a block whose track number is not in Tracks.
	ErrUnknownTrack = errors.New("mkv: block for unknown track")
	// ErrLacing reports a block whose lacing header does not match its data.
	ErrLacing = errors.New("mkv: bad block lacing")
	// ErrUnsupported reports valid Matroska this package does not handle
	// (for example a DocType other than matroska or webm).
	ErrUnsupported = errors.New("mkv: unsupported")
)
