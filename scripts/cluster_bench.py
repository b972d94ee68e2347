"""Cluster measurements behind docs/scaling.md: HNSW recall per layout, queries/s per node count, build time
per replica count, and the four faults under load with their figures.

    .venv/bin/python scripts/cluster_bench.py recall --indices csn-python,csn3sh
    .venv/bin/python scripts/cluster_bench.py qps --es-url URLS --alias A [--clients 1,4,8]
    .venv/bin/python scripts/cluster_bench.py build --es-url URLS --fraction 0.25 --replicas 0,1
    .venv/bin/python scripts/cluster_bench.py faults --fraction 0.1

`faults` starts its own three-node cluster (ports 9211-9213, transport 9511-9513, under
<home>/bench-cluster-9211), with the same fast fault detection as the tests, and removes it afterwards. Each
prints one JSON object on stdout. Run them under `flock /work/heavy.lock` on the shared machine.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the harness is the top-level `benchmarks` folder, no part of the package
sys.path.insert(0, str(ROOT / "tests"))  # the fast fault-detection settings of the test cluster

from benchmarks.cluster import QueryLoad, check_copies, master_name, wait_for_master, wait_for_status  # noqa: E402
from benchmarks.harness import encode_alone, recall_at, throughput  # noqa: E402
from benchmarks.peers import ExactSearch  # noqa: E402
from benchmarks.sample import in_sample, valid_query_texts, write_sample  # noqa: E402
from hybrid_search.config import EsSettings, Paths, default_data_dir, home_dir  # noqa: E402
from hybrid_search.data.annotations import annotated_urls, load_queries  # noqa: E402
from hybrid_search.data.corpus import ReadReport, read_corpus  # noqa: E402
from hybrid_search.es.client import connect  # noqa: E402
from hybrid_search.es.layout import IndexLayout  # noqa: E402
from hybrid_search.retrieval import make_retriever  # noqa: E402

MODES = "lexical,dense,hybrid,rerank"


def workload(data: Path, valid: int) -> tuple[list, list[str]]:
    """The corpus and the query texts: the 99 challenge queries, then `valid` valid-docstring queries."""
    functions = list(read_corpus(data, ReadReport()))
    texts = load_queries(data / "queries.csv") + valid_query_texts(functions, valid, 13, annotated_urls(data))
    return functions, texts


def emit(result: dict) -> None:
    click.echo(json.dumps(result, indent=1))


@click.group()
@click.option("--data", type=click.Path(path_type=Path), default=None, help="Data folder [default as hybrid].")
@click.option("--valid-queries", type=int, default=200, show_default=True, help="Valid docstring queries added.")
@click.pass_context
def main(ctx, data, valid_queries):
    """Cluster measurements (docs/scaling.md)."""
    ctx.obj = {"data": data or default_data_dir(), "valid": valid_queries}


@main.command()
@click.option("--es-url", envvar="HYBRID_ES_URL", default="http://127.0.0.1:9200")
@click.option("--indices", required=True, help="Comma-separated aliases over the same corpus and encoder.")
@click.option("--fraction", type=float, default=1.0, show_default=True, help="The sample the indices hold.")
@click.pass_obj
def recall(obj, es_url, indices, fraction):
    """HNSW recall@10/@100 of mode dense on each index against exact numpy search over the same vectors."""
    client = connect(EsSettings.from_env(es_url), request_timeout=120)
    functions, texts = workload(obj["data"], obj["valid"])
    functions = [f for f in functions if in_sample(f.doc_id, fraction)]
    paths = Paths.from_env()
    result = {"queries": len(texts)}
    exact = None
    for alias in indices.split(","):
        dense = make_retriever(client, alias, "dense", paths=paths, source=["url"])
        if exact is None:
            vectors, seconds = encode_alone(dense.encoder, functions)
            exact_search = ExactSearch(dense.encoder, vectors, [f.url for f in functions])
            exact = [[h.url for h in exact_search.search(t, k=100).hits] for t in texts]
            result["encode_seconds"] = round(seconds, 1)
        approx = [[h.url for h in dense.search(t, k=100).hits] for t in texts]
        shards = client.indices.get_settings(index=alias, name="index.number_of_shards")
        result[alias] = {
            "shards": int(next(iter(shards.values()))["settings"]["index"]["number_of_shards"]),
            "num_candidates": dense.params.num_candidates,
            "recall@10": recall_at(approx, exact, 10),
            "recall@100": recall_at(approx, exact, 100),
        }
    emit(result)


@main.command()
@click.option("--es-url", envvar="HYBRID_ES_URL", default="http://127.0.0.1:9200")
@click.option("--alias", required=True)
@click.option("--clients", default="1,4,8", show_default=True)
@click.option("--modes", default=MODES, show_default=True)
@click.option("--queries", "n", type=int, default=200, show_default=True, help="Queries per measurement.")
@click.pass_obj
def qps(obj, es_url, alias, clients, modes, n):
    """Queries per second (k 10) per mode and number of concurrent clients."""
    client = connect(EsSettings.from_env(es_url), request_timeout=120)
    _, texts = workload(obj["data"], obj["valid"])
    texts = texts[:n]
    paths = Paths.from_env()
    result = {"es_url": es_url, "alias": alias, "queries": len(texts), "qps": {}}
    for mode in modes.split(","):
        make_retriever(client, alias, mode, paths=paths).search(texts[0], k=10)  # warm: model load, caches
        result["qps"][mode] = {
            c: round(throughput(lambda m=mode: make_retriever(client, alias, m, paths=paths), texts, 10, int(c)), 1)
            for c in clients.split(",")
        }
    emit(result)


def sample_folder(functions, fraction: float, workdir: Path) -> tuple[Path, int]:
    folder = workdir / f"sample-{int(fraction * 100)}"
    count = write_sample((f for f in functions if in_sample(f.doc_id, fraction)), folder / "corpus")
    return folder, count


@main.command()
@click.option("--es-url", envvar="HYBRID_ES_URL", default="http://127.0.0.1:9200")
@click.option("--alias", default="clbench", show_default=True)
@click.option("--fraction", type=float, default=0.25, show_default=True)
@click.option("--shards", type=int, default=3, show_default=True)
@click.option("--replicas", default="0,1", show_default=True)
@click.option("--encoder", default="nbow", show_default=True)
@click.option("--keep/--no-keep", default=False, help="Keep the last index (for `qps`).")
@click.pass_obj
def build(obj, es_url, alias, fraction, shards, replicas, encoder, keep):
    """Build time of the sample with vectors at each replica count (the index is rebuilt each time)."""
    from hybrid_search.encoder.resolve import load_encoder
    from hybrid_search.es.indexing import versions
    from hybrid_search.pipeline.build import build_index

    client = connect(EsSettings.from_env(es_url), request_timeout=600)
    functions, _ = workload(obj["data"], 0)
    model = load_encoder(encoder, models=Paths.from_env().models)
    result = {"es_url": es_url, "fraction": fraction, "shards": shards, "builds": {}}
    with tempfile.TemporaryDirectory(prefix="cluster-bench-") as workdir:
        folder, count = sample_folder(functions, fraction, Path(workdir))
        result["functions"] = count
        for r in (int(x) for x in replicas.split(",")):
            layout = IndexLayout(
                shards=shards, replicas=r, search_type="dfs_query_then_fetch" if shards > 1 else "query_then_fetch"
            )
            report = build_index(client, folder, alias, progress=False, rebuild=True, encoder=model, layout=layout)
            result["builds"][r] = {"seconds": round(report.seconds, 1), "merge_seconds": round(report.merge_seconds, 1)}
            for v in versions(client, alias):
                if v != report.index:
                    client.indices.delete(index=v)
        if not keep:
            for v in versions(client, alias):
                client.indices.delete(index=v)
    emit(result)


# ---------------------------------------------------------------- faults under load


def bench_cluster(port: int = 9211):
    """The bench's own three-node cluster: `faults` uses HTTP 9211-9213, `up` 9231-9233 (transport +300, above ES's default 9300-9400 that other nodes pick from)."""
    from es_node import FAST_FAULT_DETECTION

    from hybrid_search.es import cluster

    spec = cluster.ClusterSpec(
        nodes=3,
        heap="1g",
        http_port=port,
        transport_port=port + 300,
        name="hybrid-bench",
        settings=FAST_FAULT_DETECTION,
    )
    return cluster, home_dir() / f"bench-cluster-{port}", spec


@main.command("up")
def bench_up():
    """Start the bench's three-node cluster on 9231-9233 (for `build` and `qps`); `down` stops it."""
    cl, home, spec = bench_cluster(9231)
    urls = cl.up(home, spec, shared_install=home_dir() / "elasticsearch-8.12.2", echo=lambda *_: None)
    emit({"urls": ",".join(urls)})


@main.command("down")
def bench_down():
    cl, home, _ = bench_cluster(9231)
    cl.down(home, shared_install=home_dir() / "elasticsearch-8.12.2", echo=lambda *_: None)
    shutil.rmtree(home, ignore_errors=True)


@main.command()
@click.option("--fraction", type=float, default=0.1, show_default=True)
@click.option("--modes", default=MODES, show_default=True)
@click.option("--encoder", default="nbow", show_default=True)
@click.pass_obj
def faults(obj, fraction, modes, encoder):
    """The four faults of docs/scaling.md on a three-node cluster of our own, with 4 query clients."""
    from hybrid_search.encoder.resolve import load_encoder
    from hybrid_search.pipeline.build import build_index

    cl, home, spec = bench_cluster()
    install = home_dir() / "elasticsearch-8.12.2"
    shutil.rmtree(home, ignore_errors=True)
    functions, texts = workload(obj["data"], obj["valid"])
    paths = Paths.from_env()
    model = load_encoder(encoder, models=paths.models)
    layout = IndexLayout(shards=3, replicas=1, search_type="dfs_query_then_fetch")
    settings = EsSettings(url=",".join(spec.urls()))
    result: dict = {"fraction": fraction, "layout": layout.to_dict(), "clients": 4, "modes": modes}
    try:
        cl.up(home, spec, shared_install=install, echo=lambda *_: None)
        client = connect(settings, request_timeout=60)
        query_client = connect(settings, request_timeout=10)
        with tempfile.TemporaryDirectory(prefix="cluster-faults-") as workdir:
            folder, count = sample_folder(functions, fraction, Path(workdir))
            source = {f.doc_id for f in functions if in_sample(f.doc_id, fraction)}
            report = build_index(client, folder, "served", progress=False, encoder=model, layout=layout)
            result["functions"] = count
            result["build_seconds"] = round(report.seconds, 1)

            def make(mode):
                return make_retriever(query_client, "served", mode, paths=paths)

            def non_master():
                master = master_name(client)
                return next(n for n in spec.names() if n != master)

            def signal_node(name, sig):
                cl.signal_node(home, name, sig, shared_install=install)

            def restart(name):
                cl.start_node(home, name, shared_install=install, echo=lambda *_: None)

            # 1. a data node killed under load, then restarted
            with QueryLoad(make, modes.split(","), texts, clients=4) as load:
                time.sleep(5)
                victim, killed = non_master(), time.monotonic()
                signal_node(victim, signal.SIGKILL)
                time.sleep(5)
                restart(victim)
                green = wait_for_status(client, "served", "green")
                back = time.monotonic()
            result["1_data_node_killed"] = {
                **load.report.summary(killed, back),
                "seconds_to_green_after_restart": round(green, 1),
                "seconds_kill_to_green": round(back - killed, 1),
                "p99_ms_before": load.report.p99_ms(0, killed),
            }

            # 2. and 3. a node killed, or paused past fault detection, while `hybrid index` builds
            for key, fault in (("2_node_killed_mid_build", "kill"), ("3_node_paused_mid_build", "pause")):
                result[key] = build_with_fault(cl, home, spec, install, client, folder, source, model, layout, fault)

            # 4. the master killed under load
            with QueryLoad(make, modes.split(","), texts, clients=4) as load:
                time.sleep(5)
                old, killed = master_name(client), time.monotonic()
                signal_node(old, signal.SIGKILL)
                new, elected = wait_for_master(client, other_than=old)
                time.sleep(5)
                restart(old)
                green = wait_for_status(client, "served", "green")
                back = time.monotonic()
            result["4_master_killed"] = {
                **load.report.summary(killed, back),
                "old_master": old,
                "new_master": new,
                "seconds_to_elect": round(elected, 1),
                "seconds_kill_to_green": round(back - killed, 1),
            }
    finally:
        cl.down(home, shared_install=install, echo=lambda *_: None)
        shutil.rmtree(home, ignore_errors=True)
    emit(result)


def build_with_fault(cl, home, spec, install, client, folder, source, model, layout, fault) -> dict:
    """Build the sample again (a new version) and kill or pause a non-master node once 20% is written."""
    import threading

    from hybrid_search.es import indexing
    from hybrid_search.pipeline.build import build_index

    alias = f"build-{fault}"
    outcome: dict = {}

    def run():
        try:
            outcome["report"] = build_index(client, folder, alias, progress=False, encoder=model, layout=layout)
        except Exception as exc:  # noqa: BLE001 -- what the user would see, recorded
            outcome["error"] = f"{type(exc).__name__}: {exc}"

    started = time.monotonic()
    thread = threading.Thread(target=run)
    thread.start()
    while thread.is_alive():
        names = indexing.versions(client, alias)
        if names:
            stats = client.indices.stats(index=names[-1], metric="indexing")["_all"]["primaries"]
            if stats.get("indexing", {}).get("index_total", 0) >= len(source) // 5:
                break
        time.sleep(0.2)
    master = master_name(client)
    victim = next(n for n in spec.names() if n != master)
    fault_at = time.monotonic()
    if fault == "kill":
        cl.signal_node(home, victim, signal.SIGKILL, shared_install=install)
        time.sleep(5)
        cl.start_node(home, victim, shared_install=install, echo=lambda *_: None)
    else:
        cl.signal_node(home, victim, signal.SIGSTOP, shared_install=install)
        time.sleep(15)
        cl.signal_node(home, victim, signal.SIGCONT, shared_install=install)
    thread.join()
    report = outcome.get("report")
    version = indexing.versions(client, alias)[-1]
    green = wait_for_status(client, version, "green")
    refused = {r.doc_id for r in report.failed} if report else set()
    acked = source - refused
    check = check_copies(client, version, acked)
    result = {
        "fault_after_s": round(fault_at - started, 1),
        "error": outcome.get("error"),
        "swapped": bool(report and report.swapped),
        "build_seconds": round(report.seconds, 1) if report else None,
        "refused_transient": len(refused),
        "seconds_to_green_after_build": round(green, 1),
        "acknowledged": check.acknowledged,
        "read_back": check.read_back,
        "lost": check.lost,
        "copies_checked": check.copies,
        "copies_differing": check.differing,
        "duplicates": check.duplicates,
    }
    if not result["swapped"]:  # resumed: the re-run must finish it
        again = build_index(client, folder, alias, progress=False, encoder=model, layout=layout)
        check = check_copies(client, version, source)
        result["rerun"] = {"resumed": again.resumed, "swapped": again.swapped, "read_back": check.read_back}
    result["final_count"] = client.count(index=alias)["count"] if indexing.aliased_index(client, alias) else None
    result["source_count"] = len(source)
    for v in indexing.versions(client, alias):
        client.indices.delete(index=v)
    return result


if __name__ == "__main__":
    main()
