package kvswebrtc

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/h264writer"
	"github.com/pion/webrtc/v4/pkg/media/h265writer"
	"github.com/pion/webrtc/v4/pkg/media/ivfwriter"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// WriterCodec returns the codec a file written by CreateWriter holds,
// from its extension (.ivf: VP8), or "" for an unknown extension.
func WriterCodec(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".h264", ".264":
		return webrtc.MimeTypeH264
	case ".h265", ".265", ".hevc":
		return webrtc.MimeTypeH265
	case ".ivf":
		return webrtc.MimeTypeVP8
	case ".ogg", ".opus":
		return webrtc.MimeTypeOpus
	}
	return ""
}

// CreateWriter creates path to store received RTP: Annex-B H.264
// (.h264), Annex-B H.265 (.h265), IVF (.ivf, holding mime: VP8 by
// default, VP9 or AV1) or Ogg Opus (.ogg).
func CreateWriter(path, mime string) (RTPWriter, error) {
	var (
		w   RTPWriter
		err error
	)
	switch WriterCodec(path) {
	case webrtc.MimeTypeH264:
		w, err = h264writer.New(path)
	case webrtc.MimeTypeH265:
		w, err = h265writer.New(path)
	case webrtc.MimeTypeVP8:
		if mime == "" {
			mime = webrtc.MimeTypeVP8
		}
		w, err = ivfwriter.New(path, ivfwriter.WithCodec(mime))
	case webrtc.MimeTypeOpus:
		w, err = oggwriter.New(path, 48000, 2)
	default:
		return nil, fmt.Errorf("%w: cannot write %s (want .h264, .h265, .ivf or .ogg)", ErrUnknownFormat, path)
	}
	if err != nil {
		return nil, fmt.Errorf("kvswebrtc: create %s: %w", path, err)
	}
	return w, nil
}
