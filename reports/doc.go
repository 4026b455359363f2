// Package reports renders rollout progress (rollout.Status) as tables,
// Markdown, JSON, self-contained HTML with charts, and Prometheus metrics.
package reports
