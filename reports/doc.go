// Package reports renders rollout progress (a rollout.Status) for people
// and machines: terminal tables fitted to the terminal, Markdown for pull
// requests and change tickets, JSON with a versioned schema
// (schema/report.v1.json), one self-contained HTML page with inline SVG
// charts, and Prometheus metrics (Collector) for the dashboard in
// deploy/grafana. It only reads a status; computing one is the rollout
// package's job. Label values are user input and every format escapes them.
package reports
