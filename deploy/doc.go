// Package deploy holds compressq's deployment artefacts and the tests that
// check them; it has no code of its own.
//
//	prometheus/  scrape configuration, alert rules and their unit tests (promtool)
//	grafana/     the compressq dashboard
//	kubernetes/  worker and API Deployments, metrics Service, KEDA ScaledObject
//	systemd/     a worker unit for hosts without Kubernetes
//
// The runbook of every alert is a section of docs/operations.md.
package deploy
