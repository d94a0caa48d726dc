// Package sample holds short media loops made with ffmpeg (see README.md
// beside it): what openkvs master streams when it is given no media, and
// what the kvswebrtc tests send.
package sample

import (
	"embed"
	"fmt"
)

// Names of the files, one per format.
const (
	H264 = "sample.h264" // H.264 Constrained Baseline, Annex-B
	H265 = "sample.h265" // H.265 Main, Annex-B
	VP8  = "sample.ivf"  // VP8 in IVF
	Opus = "sample.ogg"  // Opus in Ogg, one packet per page
)

//go:embed sample.h264 sample.h265 sample.ivf sample.ogg
var files embed.FS

// Bytes returns the content of the file called name (one of the
// constants).
func Bytes(name string) ([]byte, error) {
	b, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	return b, nil
}
