// Package pionlog adapts log/slog to the logging interfaces of the pion
// libraries (pion/turn, pion/webrtc, pion/ice, ...), so that their messages
// end up in the injected *slog.Logger of the component that uses them.
//
// pion logs at five levels; Trace has no slog counterpart and is mapped to
// LevelTrace, four below Debug, so it stays hidden unless a handler asks for
// it explicitly. Every message carries the pion scope ("turn", "ice", ...) as
// the "scope" attribute. Formatting is skipped when the level is disabled,
// which matters on pion's per-packet debug paths.
package pionlog

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/pion/logging"
)

// LevelTrace is the slog level used for pion's Trace messages.
const LevelTrace = slog.LevelDebug - 4

// Factory is a logging.LoggerFactory that writes to a *slog.Logger.
// The zero value discards everything.
type Factory struct {
	logger *slog.Logger
}

// New returns a Factory writing to logger. A nil logger discards all output.
func New(logger *slog.Logger) *Factory {
	return &Factory{logger: logger}
}

// NewLogger returns a leveled logger for the given pion scope.
func (f *Factory) NewLogger(scope string) logging.LeveledLogger {
	if f == nil || f.logger == nil {
		return Logger{}
	}
	return Logger{logger: f.logger.With("scope", scope)}
}

// Logger is a logging.LeveledLogger backed by a *slog.Logger.
// The zero value discards everything.
type Logger struct {
	logger *slog.Logger
}

var _ logging.LeveledLogger = Logger{}

func (l Logger) log(level slog.Level, msg string) {
	if l.logger == nil {
		return
	}
	ctx := context.Background()
	if !l.logger.Enabled(ctx, level) {
		return
	}
	l.emit(ctx, level, msg)
}

func (l Logger) logf(level slog.Level, format string, args ...any) {
	if l.logger == nil {
		return
	}
	ctx := context.Background()
	if !l.logger.Enabled(ctx, level) {
		return
	}
	l.emit(ctx, level, fmt.Sprintf(format, args...))
}

// emit writes a record whose source position is pion's call site rather than
// this adapter.
func (l Logger) emit(ctx context.Context, level slog.Level, msg string) {
	var pcs [1]uintptr
	// Skip runtime.Callers, emit, log/logf and the exported method.
	runtime.Callers(4, pcs[:])
	r := slog.NewRecord(time.Now(), level, msg, pcs[0])
	_ = l.logger.Handler().Handle(ctx, r)
}

// Trace logs msg at LevelTrace.
func (l Logger) Trace(msg string) { l.log(LevelTrace, msg) }

// Tracef formats and logs at LevelTrace.
func (l Logger) Tracef(format string, args ...any) { l.logf(LevelTrace, format, args...) }

// Debug logs msg at slog.LevelDebug.
func (l Logger) Debug(msg string) { l.log(slog.LevelDebug, msg) }

// Debugf formats and logs at slog.LevelDebug.
func (l Logger) Debugf(format string, args ...any) { l.logf(slog.LevelDebug, format, args...) }

// Info logs msg at slog.LevelInfo.
func (l Logger) Info(msg string) { l.log(slog.LevelInfo, msg) }

// Infof formats and logs at slog.LevelInfo.
func (l Logger) Infof(format string, args ...any) { l.logf(slog.LevelInfo, format, args...) }

// Warn logs msg at slog.LevelWarn.
func (l Logger) Warn(msg string) { l.log(slog.LevelWarn, msg) }

// Warnf formats and logs at slog.LevelWarn.
func (l Logger) Warnf(format string, args ...any) { l.logf(slog.LevelWarn, format, args...) }

// Error logs msg at slog.LevelError.
func (l Logger) Error(msg string) { l.log(slog.LevelError, msg) }

// Errorf formats and logs at slog.LevelError.
func (l Logger) Errorf(format string, args ...any) { l.logf(slog.LevelError, format, args...) }
