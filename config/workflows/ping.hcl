# Is there a live worker on this node's queue? Answers with the queue that ran it.
workflow          = "ping"
task_queue_target = "node"
description       = "Check that a node's worker answers"
