"""Schedule triggers: what fires launchq's cron schedules besides the reconciler."""
