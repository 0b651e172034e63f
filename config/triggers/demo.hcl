# The medic dev demo: heal the demo service when its /metrics says it is unhealthy. The demo
# labels its metric with the node to heal and where its lock sits, so the runbook gets them
# as parameters. On a fleet without the demo service this rule matches nothing.
rule "demo_unhealthy" {
  query    = "medic_demo_healthy == 0"
  for      = "2s"
  workflow = "healDemo"
  reason   = "demo service /health failing (stale lock)"

  target {
    node       = "{{ $labels.node }}"
    datacenter = "{{ $labels.datacenter }}"
    node_type  = "{{ $labels.node_type }}"
  }

  params = {
    demo_dir = "{{ $labels.demo_dir }}"
    port     = "{{ $labels.port }}"
  }
}
