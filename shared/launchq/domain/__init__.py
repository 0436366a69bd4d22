"""Domain models: queues, runs, states, priorities, template variables, launch-config."""
