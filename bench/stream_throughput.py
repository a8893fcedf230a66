"""File -> stream -> worker(s) -> file, on loopback, beside the client libraries' own loops.

Each round, on the same input (200-byte lines) and the same broker:

Redis (the machine's, 127.0.0.1:6379):

* write: Deadbeat ``fs.read`` -> ``stream.redis_write`` against redis-py's own
  pipelined ``XADD`` loop (1000 per pipeline) over the same file;
* read, one worker: Deadbeat ``stream.redis`` -> ``fs.write`` against redis-py's
  own ``XREADGROUP`` (1000) / write the lines / ``XACK`` loop;
* read, two workers: the same, two processes sharing one group (forked here).

NATS JetStream (127.0.0.1:4222): the same three, against nats-py's own loops
(``publish_async`` of 1000 and waiting for their acknowledgements; pull
``fetch(1000)`` / write / ``ack``), and nats-py's ceiling for one worker: pull
requests of 1000 answered into one callback, each message acknowledged, nothing
written (what any worker on nats-py can reach at most).

End to end (``--end-to-end``, on by default): the writer and one or two
followers run at once, each in its own process, from the first line written
to the last one in the followers' files: file -> stream -> worker(s) -> file
as a deployment runs it, Deadbeat's cogs against the libraries' loops (the
reading loops following the stream until told to stop).

Prints events/s of each per round, then the medians and the ratio of
Deadbeat to the library's loop. redis-py uses hiredis (its C reply parser,
which the ``redis`` extra installs) on both sides when it is installed; the
script says which.

Run: ``python bench/stream_throughput.py [--lines N] [--rounds R] [--only redis|nats] [--no-end-to-end]``
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import signal
import statistics
import string
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from deadbeat import fs, movement, stream

REDIS_URL = "redis://127.0.0.1:6379/0"
NATS_URL = "nats://127.0.0.1:4222"


def make_input(path: Path, lines: int) -> None:
    rng = random.Random(5)
    alphabet = string.ascii_letters + string.digits
    block = [f"{i:09d} " + "".join(rng.choices(alphabet, k=189)) + "\n" for i in range(1000)]
    with open(path, "w") as handle:
        for start in range(0, lines, 1000):
            handle.writelines(block[: min(1000, lines - start)])


def run_pipeline(make: Callable[[movement.Train], list[object]], once: bool = True) -> int:
    """Run a pipeline built by ``make``, with ``--once`` semantics unless ``once`` is false (then until SIGTERM,
    the Escapement's own orderly stop); :returns: data out."""
    esc = movement.Escapement()
    esc.once = once
    train = movement.Train(esc)
    train.cogs = make(train)
    try:
        esc.run()
    finally:
        esc.close()
    return train.events_out


#: Set by SIGTERM in a library's follower: it stops after the reply it waits for.
_stop_following = False


def _stop_on_sigterm() -> None:
    def stop(signum: int, frame: object) -> None:
        global _stop_following
        _stop_following = True

    signal.signal(signal.SIGTERM, stop)


# -- Redis ----------------------------------------------------------------------------


def redis_write_deadbeat(src: Path, key: str) -> None:
    run_pipeline(lambda train: [fs.FileReaderSupply(train, [str(src)]), stream.RedisStreamDrain(train, key)])


def redis_write_library(src: Path, key: str) -> None:
    import redis.asyncio as aredis

    async def go() -> None:
        client = aredis.Redis.from_url(REDIS_URL)
        with open(src) as handle:
            lines = [line.rstrip("\n") for line in handle]
        for start in range(0, len(lines), 1000):
            pipe = client.pipeline(transaction=False)
            for line in lines[start : start + 1000]:
                pipe.xadd(key, {"data": line})
            await pipe.execute()
        await client.aclose()

    asyncio.run(go())


def redis_read_deadbeat(key: str, dst: Path, group: str, follow: bool = False) -> None:
    """:param follow: go on reading until SIGTERM (end to end), not only what the stream holds."""
    run_pipeline(
        lambda train: [stream.RedisStreamSupply(train, key, group=group), fs.LineFileDrain(train.esc, str(dst))],
        once=not follow,
    )


def redis_read_library(key: str, dst: Path, group: str, follow: bool = False) -> None:
    """:param follow: go on reading until SIGTERM (end to end), not only what the stream holds."""
    import redis.asyncio as aredis

    if follow:
        _stop_on_sigterm()

    async def go() -> None:
        client = aredis.Redis.from_url(REDIS_URL)
        try:
            await client.xgroup_create(key, group, id="0")
        except Exception:  # noqa: BLE001 - made by the other worker
            pass
        consumer = f"lib-{os.getpid()}"
        with open(dst, "a") as out:
            while not _stop_following:
                reply = await client.xreadgroup(group, consumer, {key: ">"}, count=1000, block=100 if follow else None)
                if not reply:
                    if follow:
                        continue
                    break
                entries = reply[0][1]
                out.write("\n".join(fields[b"data"].decode() for _, fields in entries) + "\n")
                out.flush()
                await client.xack(key, group, *[message_id for message_id, _ in entries])
        await client.aclose()

    asyncio.run(go())


# -- NATS -------------------------------------------------------------------------------


def nats_admin(call: Callable[[object], object]) -> None:
    import nats

    async def go() -> None:
        nc = await nats.connect(NATS_URL)
        try:
            await call(nc.jetstream())  # type: ignore[misc]
        finally:
            await nc.close()

    asyncio.run(go())


def nats_write_deadbeat(src: Path, name: str) -> None:
    run_pipeline(
        lambda train: [fs.FileReaderSupply(train, [str(src)]), stream.NATSStreamDrain(train, f"{name}.in", stream=name)]
    )


def nats_write_library(src: Path, name: str) -> None:
    import nats

    async def go() -> None:
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        with open(src) as handle:
            lines = [line.rstrip("\n") for line in handle]
        for start in range(0, len(lines), 1000):
            futures = [await js.publish_async(f"{name}.in", line.encode()) for line in lines[start : start + 1000]]
            await asyncio.gather(*futures)
        await nc.close()

    asyncio.run(go())


def nats_read_deadbeat(name: str, dst: Path, durable: str, follow: bool = False) -> None:
    """:param follow: go on reading until SIGTERM (end to end), not only what the stream holds."""
    run_pipeline(
        lambda train: [stream.NATSStreamSupply(train, name, durable=durable), fs.LineFileDrain(train.esc, str(dst))],
        once=not follow,
    )


def nats_read_library(name: str, dst: Path, durable: str, follow: bool = False) -> None:
    """:param follow: go on reading until SIGTERM (end to end), not only what the stream holds."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig

    if follow:
        _stop_on_sigterm()

    async def go() -> None:
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        try:
            await js.add_consumer(
                name, ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT, max_ack_pending=-1)
            )
        except Exception:  # noqa: BLE001 - made by the other worker
            pass
        sub = await js.pull_subscribe_bind(durable=durable, stream=name)
        with open(dst, "a") as out:
            while not _stop_following:
                try:
                    messages = await sub.fetch(1000, timeout=0.1 if follow else 0.5)
                except asyncio.TimeoutError:
                    if follow:
                        continue
                    break
                out.write("\n".join(m.data.decode() for m in messages) + "\n")
                out.flush()
                for message in messages:
                    await message.ack()
                if len(messages) < 1000 and not follow:
                    break  # the stream is drained: stop as Deadbeat's --once does, without waiting
        await nc.flush()
        await nc.close()

    asyncio.run(go())


def nats_ceiling(name: str, durable: str) -> None:
    """nats-py's ceiling for a worker: pull requests into one callback, each message acknowledged, nothing written."""
    import json

    import nats
    from nats.js.api import AckPolicy, ConsumerConfig

    async def go() -> None:
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        await js.add_consumer(
            name, ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT, max_ack_pending=-1)
        )
        replies: list[str] = []
        answered = asyncio.Event()

        async def delivered(message: object) -> None:
            if getattr(message, "reply", ""):
                replies.append(message.reply)  # type: ignore[attr-defined]
                if len(replies) == 1000:
                    answered.set()
            else:
                answered.set()  # a status: no more messages

        inbox = nc.new_inbox()
        await nc.subscribe(inbox, cb=delivered)
        while True:
            answered.clear()
            await nc.publish(
                f"$JS.API.CONSUMER.MSG.NEXT.{name}.{durable}",
                json.dumps({"batch": 1000, "no_wait": True}).encode(),
                reply=inbox,
            )
            await answered.wait()
            if not replies:
                break
            for reply in replies:
                await nc.publish(reply, b"+ACK")
            replies.clear()
        await nc.flush()
        await nc.close()

    asyncio.run(go())


def end_to_end(
    lines: int,
    write: Callable[..., None],
    follow: Callable[..., None],
    where: object,
    src: Path,
    outputs: list[Path],
    reading: str,
) -> float:
    """The followers (``follow(where, output, reading, follow=True)``) started first, then the writer, each in its
    own process; timed from the writer's start to the last line in the followers' files. :returns: events/s."""
    context = multiprocessing.get_context("fork")
    followers = [context.Process(target=follow, args=(where, out, reading), kwargs={"follow": True}) for out in outputs]
    for process in followers:
        process.start()
    time.sleep(1.0)  # connected and waiting: what is timed is the flow, not the starts
    start = time.perf_counter()
    writer = context.Process(target=write, args=(src, where))
    writer.start()
    try:
        while sum(count_lines(out) for out in outputs if out.exists()) < lines:
            if writer.exitcode not in (None, 0) or any(p.exitcode not in (None, 0) for p in followers):
                raise SystemExit("end to end: a process failed")
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
    finally:
        writer.join()
        for process in followers:
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)
        for process in followers:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    return lines / elapsed


# -- the rounds -------------------------------------------------------------------------


def in_processes(count: int, target: Callable[..., None], *args: object) -> None:
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=target, args=args) for _ in range(count)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"a worker failed: {process.exitcode}")


def timed(events: int, work: Callable[..., None], *args: object) -> float:
    start = time.perf_counter()
    work(*args)
    return events / (time.perf_counter() - start)


def count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def redis_round(src: Path, root: Path, lines: int, rates: dict[str, list[float]]) -> None:
    import redis

    admin = redis.Redis()
    for who, write, read in (
        ("deadbeat", redis_write_deadbeat, redis_read_deadbeat),
        ("redis-py", redis_write_library, redis_read_library),
    ):
        key = f"deadbeat-bench-{uuid.uuid4().hex[:8]}"
        try:
            rates[f"redis write: {who}"].append(timed(lines, write, src, key))
            assert admin.xlen(key) == lines, admin.xlen(key)
            for workers in (1, 2):
                dst = root / f"out-{who}-{workers}.txt"
                dst.unlink(missing_ok=True)
                group = f"g{workers}"
                if who == "deadbeat" and workers == 2:
                    admin.xgroup_create(key, group, id="0")
                rate = timed(lines, in_processes, workers, read, key, dst, group)
                rates[f"redis read, {workers} worker{'s' if workers > 1 else ''}: {who}"].append(rate)
                assert count_lines(dst) >= lines, (who, workers, count_lines(dst))
        finally:
            admin.delete(key)


def nats_round(src: Path, root: Path, lines: int, rates: dict[str, list[float]]) -> None:
    for who, write, read in (
        ("deadbeat", nats_write_deadbeat, nats_read_deadbeat),
        ("nats-py", nats_write_library, nats_read_library),
    ):
        name = f"DBBENCH{uuid.uuid4().hex[:8]}"
        nats_admin(lambda js, name=name: js.add_stream(name=name, subjects=[f"{name}.>"]))  # type: ignore[attr-defined]
        try:
            rates[f"nats write: {who}"].append(timed(lines, write, src, name))
            for workers in (1, 2):
                dst = root / f"out-{who}-{workers}.txt"
                dst.unlink(missing_ok=True)
                durable = f"d{workers}"
                if workers == 2:
                    from nats.js.api import AckPolicy, ConsumerConfig

                    config = ConsumerConfig(
                        durable_name=durable, ack_policy=AckPolicy.EXPLICIT, max_ack_pending=-1, max_deliver=6
                    )
                    nats_admin(lambda js, c=config, n=name: js.add_consumer(n, config=c))  # type: ignore[attr-defined]
                rate = timed(lines, in_processes, workers, read, name, dst, durable)
                rates[f"nats read, {workers} worker{'s' if workers > 1 else ''}: {who}"].append(rate)
                assert count_lines(dst) >= lines, (who, workers, count_lines(dst))
            if who == "nats-py":
                rates[CEILING].append(timed(lines, nats_ceiling, name, "dceiling"))
        finally:
            nats_admin(lambda js, name=name: js.delete_stream(name))  # type: ignore[attr-defined]


CEILING = "nats read, 1 worker: nats-py ceiling (pull + ack, nothing written)"


def redis_end_to_end(src: Path, root: Path, lines: int, rates: dict[str, list[float]]) -> None:
    import redis

    admin = redis.Redis()
    for who, write, follow in (
        ("deadbeat", redis_write_deadbeat, redis_read_deadbeat),
        ("redis-py", redis_write_library, redis_read_library),
    ):
        for workers in (1, 2):
            key = f"deadbeat-bench-{uuid.uuid4().hex[:8]}"
            admin.xgroup_create(key, "e2e", id="0", mkstream=True)
            outputs = [root / f"e2e-{who}-{workers}-{n}.txt" for n in range(workers)]
            for out in outputs:
                out.unlink(missing_ok=True)
            try:
                rate = end_to_end(lines, write, follow, key, src, outputs, "e2e")
            finally:
                admin.delete(key)
            rates[f"redis end to end, {workers} worker{'s' if workers > 1 else ''}: {who}"].append(rate)


def nats_end_to_end(src: Path, root: Path, lines: int, rates: dict[str, list[float]]) -> None:
    from nats.js.api import AckPolicy, ConsumerConfig

    for who, write, follow in (
        ("deadbeat", nats_write_deadbeat, nats_read_deadbeat),
        ("nats-py", nats_write_library, nats_read_library),
    ):
        for workers in (1, 2):
            name = f"DBBENCH{uuid.uuid4().hex[:8]}"
            config = ConsumerConfig(
                durable_name="e2e", ack_policy=AckPolicy.EXPLICIT, max_ack_pending=-1, max_deliver=6
            )
            nats_admin(lambda js, name=name: js.add_stream(name=name, subjects=[f"{name}.>"]))  # type: ignore[attr-defined]
            nats_admin(lambda js, c=config, n=name: js.add_consumer(n, config=c))  # type: ignore[attr-defined]
            outputs = [root / f"e2e-{who}-{workers}-{n}.txt" for n in range(workers)]
            for out in outputs:
                out.unlink(missing_ok=True)
            try:
                rate = end_to_end(lines, write, follow, name, src, outputs, "e2e")
            finally:
                nats_admin(lambda js, name=name: js.delete_stream(name))  # type: ignore[attr-defined]
            rates[f"nats end to end, {workers} worker{'s' if workers > 1 else ''}: {who}"].append(rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=("redis", "nats"), default=None)
    parser.add_argument(
        "--end-to-end", action=argparse.BooleanOptionalAction, default=True, help="also time the whole flow"
    )
    args = parser.parse_args()
    try:
        import hiredis  # noqa: F401
    except ImportError:
        print("redis-py parses replies in Python (hiredis is not installed)")
    else:
        print("redis-py parses replies with hiredis")
    rates: dict[str, list[float]] = {}
    for kind in ("redis", "nats"):
        if args.only in (None, kind):
            stages = ["write", "read, 1 worker", "read, 2 workers"]
            if args.end_to_end:
                stages += ["end to end, 1 worker", "end to end, 2 workers"]
            for stage in stages:
                for who in ("deadbeat", "redis-py" if kind == "redis" else "nats-py"):
                    rates[f"{kind} {stage}: {who}"] = []
    if args.only in (None, "nats"):
        rates[CEILING] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = root / "in.log"
        make_input(src, args.lines)
        for round_no in range(1, args.rounds + 1):
            if args.only in (None, "redis"):
                redis_round(src, root, args.lines, rates)
            if args.only in (None, "nats"):
                nats_round(src, root, args.lines, rates)
            if args.end_to_end and args.only in (None, "redis"):
                redis_end_to_end(src, root, args.lines, rates)
            if args.end_to_end and args.only in (None, "nats"):
                nats_end_to_end(src, root, args.lines, rates)
            shown = ", ".join(f"{name} {values[-1]:,.0f}/s" for name, values in rates.items() if values)
            print(f"round {round_no}: {shown}", flush=True)
    print(f"\nmedians over {args.rounds} rounds of {args.lines:,} lines (events/s):")
    medians = {name: statistics.median(values) for name, values in rates.items() if values}
    for name, value in medians.items():
        print(f"  {name:<40} {value:>10,.0f}")
    print("\nratio deadbeat / client library's own loop:")
    for name, value in medians.items():
        if name.endswith(": deadbeat"):
            stage = name.rpartition(":")[0]
            other = next(v for n, v in medians.items() if n.startswith(stage + ":") and not n.endswith("deadbeat"))
            print(f"  {stage:<40} {value / other:>6.2f}")
    if CEILING in medians:
        ratio = medians["nats read, 1 worker: deadbeat"] / medians[CEILING]
        print(f"  {'nats read, 1 worker / nats-py ceiling':<40} {ratio:>6.2f}")
    for name, value in medians.items():
        if "2 workers: deadbeat" in name:
            single = medians[name.replace("2 workers", "1 worker")]
            print(f"  {name.rpartition(',')[0]}, 2 workers / 1 worker (deadbeat) {value / single:>6.2f}")
    # End to end, the one writer sets the pace whatever the workers could take: not divided among them.
    print("\nper worker process, reading (deadbeat; target >= 50,000 events/s each):")
    for name, value in medians.items():
        if name.endswith(": deadbeat") and " read, " in name:
            workers = 2 if "2 workers" in name else 1
            print(f"  {name.rpartition(':')[0]:<40} {value / workers:>10,.0f}")


if __name__ == "__main__":
    main()
