"""An agent that pulls work from a launchq control plane over HTTP (``launchq agent --url``).

``client`` speaks the agent routes, ``store`` turns them into a ``RunStore`` so the
dispatcher, reconciler and transitions run unchanged, ``threads`` keeps the agent awake
(waiter), its claims alive (heartbeat) and its jobs' logs on the control plane (log
shipper), and ``wiring`` puts an agent's services together.
"""
