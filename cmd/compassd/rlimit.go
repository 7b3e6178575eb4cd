package main

import (
	"log/slog"
	"syscall"

	"github.com/ucompass/compass/pkg/config"
)

// fdReserve is kept free of client connections: listeners, the admin and
// metrics servers, log and proc files.
const fdReserve = 128

// fitOpenFiles raises the soft open-file limit to the hard one and lowers
// --max-conns to what the limit can hold. Past the limit netpoll's accept
// fails with EMFILE and backs off while clients wait in the backlog until
// they time out; refusing them at once, counted as max_conns, is better.
func fitOpenFiles(cfg *config.Config, log *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("cannot read the open-file limit", "err", err)
		return
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			log.Warn("cannot raise the open-file limit", "err", err)
			_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
		}
	}
	room := int(lim.Cur) - fdReserve
	if room > 0 && cfg.MaxConns > room {
		log.Warn("--max-conns exceeds what the open-file limit can hold; lowering it",
			"max_conns", cfg.MaxConns, "open_file_limit", lim.Cur, "effective_max_conns", room)
		cfg.MaxConns = room
	}
}
