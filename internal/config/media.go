package config

// MediaConfig configures the video-stream half: PutMedia ingest, the
// fragment archive and playback. Zero values take KVS' limits (see
// internal/ingest.Config and internal/archive.Config for each default).
type MediaConfig struct {
}

// mediaFields lists the serve flags of MediaConfig.
func mediaFields() []Field {
	return nil
}
