package config

// SignalingConfig configures WebSocket signaling. Zero values take KVS'
// limits (see internal/signaling.Config for each default).
type SignalingConfig struct {
}

// signalingFields lists the serve flags of SignalingConfig.
func signalingFields() []Field {
	return nil
}
