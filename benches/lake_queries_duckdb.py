"""The DuckDB half of `cargo bench --bench lake_queries`: runs each query of
QUERIES (a JSON list of [name, sql]) over tarn's lake files, read with
read_parquet(..., hive_partitioning = true) as the view aws_cloudtrail, with
THREADS threads, RUNS times in this one process; prints one JSON object:
per query the median seconds and the rows of the result.

    lake_queries_duckdb.py LAKE THREADS RUNS QUERIES_JSON
"""

import json
import statistics
import sys
import time

import duckdb


def main(lake, threads, runs, queries):
    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    glob = lake.replace("'", "''") + "/aws_cloudtrail/*/*/*/*/*.parquet"
    con.execute(f"CREATE VIEW aws_cloudtrail AS SELECT * FROM read_parquet('{glob}', hive_partitioning = true)")
    out = {}
    for name, sql in json.loads(queries):
        times, rows = [], 0
        for _ in range(int(runs)):
            started = time.perf_counter()
            rows = len(con.execute(sql).fetchall())
            times.append(time.perf_counter() - started)
        out[name] = {"seconds": statistics.median(times), "rows": rows}
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:5])
