"""Where a run computes: the ``--strategy`` and, under multi-worker training, which worker this is."""
import re

import tensorflow as tf


def strategy_for(name):
    """The tf.distribute strategy named by ``--strategy``."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r} (default, mirrored, multi_worker)")


def worker_index(strategy):
    """This process's index among the workers (0 unless multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return int(resolver.task_id or 0) if resolver is not None and resolver.task_type else 0


def worker_count(strategy):
    """How many worker processes train together (1 unless multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return 1
    return sum(len(tasks) for tasks in resolver.cluster_spec().as_dict().values())


def lost_peer_message(error, strategy, step):
    """One line for a multi-worker run whose peer died: who, and how to go on (``step``: the last checkpoint's)."""
    tasks = re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", str(error).split("unhealthy")[-1])
    me = (strategy.cluster_resolver.task_type, str(worker_index(strategy)))
    peers = [t for t in dict.fromkeys(tasks) if t != me]
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()
    named = ", ".join(f"{job} {i} ({cluster[job][int(i)]})" for job, i in peers) or "a peer"
    resume = (f"step {step}" if step is not None else "the chief's last checkpoint, if it wrote one")
    resume = f"relaunch every worker with --resume to go on from {resume}"
    return f"lost {named}: it stopped answering, so this worker stopped too; {resume}"
