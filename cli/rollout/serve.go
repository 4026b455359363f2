package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/posture-dev/posture/cli/cmdutil"
	"github.com/posture-dev/posture/reports"
	"github.com/posture-dev/posture/rollout"
)

// serveCmd runs the in-cluster side: it recomputes every namespace's
// status (read-only) and serves it as JSON and Prometheus metrics.
// Promotions stay a human act through promote, with the human's RBAC.
func serveCmd(s cmdutil.Streams, c *common) *cobra.Command {
	var listen string
	var refresh time.Duration
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve every namespace's rollout status as JSON (/status) and Prometheus metrics (/metrics); read-only",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			dc, _, err := c.client()
			if err != nil {
				return err
			}
			g, err := c.gates()
			if err != nil {
				return err
			}
			log := s.Logger()
			var mu sync.Mutex
			var in *inputs
			var loaded time.Time
			status := func() (*rollout.Status, error) {
				mu.Lock()
				defer mu.Unlock()
				if in == nil || time.Since(loaded) > refresh {
					fresh, err := c.load(ctx, s, c.namespace, false)
					if err != nil {
						return nil, err
					}
					in, loaded = fresh, time.Now()
				}
				sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				return rollout.ComputeStatus(sctx, dc, in.statusOptions(g, time.Time{}, c.namespace))
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(reports.NewCollector(status))
			mux := http.NewServeMux()
			mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
			mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
				st, err := status()
				if err != nil {
					log.Error("computing status", "err", err)
					http.Error(w, err.Error(), http.StatusServiceUnavailable)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(st)
			})
			mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
			srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
			go func() {
				<-ctx.Done()
				shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(shut)
			}()
			log.Info("serving rollout status", "listen", listen)
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serving: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", ":9090", "address for /status, /metrics and /healthz")
	cmd.Flags().DurationVar(&refresh, "refresh", 5*time.Minute, "re-read --flows and --policies this often")
	return cmd
}
