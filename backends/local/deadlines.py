"""Firing due deadlines (timeouts, timers, retention purges, outbox deliveries), each exactly once."""

from __future__ import annotations

from . import relations, timeouts
from .core import Core, load_run
from .keys import DomainKeys
from .observers import DeadlineFired
from .run import Run, deadline, ms
from .state import RunState
from .store import Tx, read_deadline, read_open_run_id, read_run

FIRE_BATCH = 64
class Deadlines:
    """Firing due deadlines: each one exactly once, whatever number of timekeepers run."""

    def __init__(self, engine: Core) -> None:
        self.engine = engine

    def earliest(self) -> float | None:
        store = self.engine.store
        return store.earliest_deadline(store.domain_names())

    def fire_due(self, now: float | None = None) -> int:
        """Fire every deadline at or before ``now``, earliest first; return how many fired."""
        engine = self.engine
        now = engine.clock.now() if now is None else now
        fired = 0
        for name in sorted(engine.store.domain_names()):
            dk = DomainKeys(name)
            while True:
                due = engine.store.due_deadlines(dk, now, 1024)
                if not due:
                    break
                batch: list[str] = []
                for member in due:
                    if member.split("|", 1)[0] in relations.OUTBOX_KINDS:
                        fired += self.fire_batch(dk, batch, now)
                        batch = []
                        kind, run_id, ref = timeouts.parse(member)
                        # stamped when delivered: the loop's `now` may be older than events written meanwhile
                        at = max(now, engine.now())
                        fired += relations.deliver(engine, dk, member, kind, run_id, int(ref or 0), at)
                        continue
                    batch.append(member)
                    if len(batch) == FIRE_BATCH:
                        fired += self.fire_batch(dk, batch, now)
                        batch = []
                fired += self.fire_batch(dk, batch, now)
        return fired

    def fire_batch(self, dk: DomainKeys, members: list[str], now: float) -> int:
        """Fire due single-run deadlines in one transaction over their runs: one round trip to
        read them (under WATCH), one to write; a conflicting change makes the batch run again."""
        if not members:
            return 0
        engine = self.engine
        run_ids = list(dict.fromkeys(timeouts.parse(m)[1] for m in members))

        def body(tx: Tx) -> int:
            for run_id in run_ids:
                tx.watch_run(dk, run_id)
            replies = tx.read_many(*(read_deadline(dk, m) for m in members), *(read_run(dk, r) for r in run_ids))
            scores, raws = replies[: len(members)], replies[len(members) :]
            runs = {r: load_run(raw, now) for r, raw in zip(run_ids, raws, strict=True) if raw is not None}
            changed: dict[str, Run] = {}
            dropped: list[str] = []
            moved: dict[str, float] = {}
            purged: list[RunState] = []
            fired = 0
            for member, score in zip(members, scores, strict=True):
                if score is None or score > now:
                    continue  # fired by another timekeeper, or moved (heartbeat) meanwhile
                kind, run_id, ref = timeouts.parse(member)
                run = runs.get(run_id)
                dropped.append(member)
                if run is None:
                    continue
                run.now = ms(score)  # the event carries its deadline
                if kind == "purge":
                    purged.append(runs.pop(run_id).state)
                    changed.pop(run_id, None)
                    fired += 1
                elif kind in ("cpt", "cpc") and run.state.close_status == "CONTINUED_AS_NEW":
                    # the child went on as a new run: the policy follows it there
                    current = tx.read(read_open_run_id(dk, run.workflow_id))
                    if current is not None:
                        moved[deadline(kind, current.decode())] = score
                elif timeouts.fire(run, kind, ref):
                    changed[run_id] = run
                    fired += 1
                    engine.note(DeadlineFired(dk.domain, run_id, kind))
            tx.multi()
            for state in purged:  # past its retention: the run vanishes with its history and index entries
                tx.purge_run(
                    dk, state.run_id, state.workflow_id, state.workflow_type[0], state.tags, state.close_status
                )
            for run in changed.values():
                engine.write_run(tx, dk, run)
            if dropped:
                tx.remove_deadlines(dk, dropped)
            if moved:
                tx.add_deadlines(dk, moved)
            return fired

        return int(engine.commit([], body))
