"""The DuckDB half of `cargo bench --bench ingest` (benches/ingest.rs runs it
with ./.venv/bin/python; scripts/test.sh installs the pinned duckdb there).

    ingest_duckdb.py job CORPUS OUT THREADS

reads every CloudTrail file under CORPUS (`*.json.gz`, `{"Records": [...]}`),
one row per record, and writes the rows to OUT as zstd Parquet partitioned by
the UTC year/month/day/hour of eventTime: what `tarn ingest file` does, done
by DuckDB with its defaults but the thread count. Prints one JSON line: the
rows COPY reports and the seconds the COPY took inside this process.

    ingest_duckdb.py count OUT

prints the rows of the Parquet files under OUT, read back.
"""

import json
import sys
import time

import duckdb


def quoted(text):
    return "'" + text.replace("'", "''") + "'"


def job(corpus, out, threads):
    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    started = time.perf_counter()
    (rows,) = con.execute(
        f"""
        COPY (
            SELECT unnest(record), year(t) AS year, month(t) AS month, day(t) AS day, hour(t) AS hour
            FROM (
                SELECT record, record.eventTime::TIMESTAMP AS t
                FROM (SELECT unnest(Records) AS record FROM read_json({quoted(corpus + "/**/*.json.gz")}))
            )
        ) TO {quoted(out)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (year, month, day, hour))
        """
    ).fetchone()
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": rows, "seconds": seconds, "duckdb": duckdb.__version__}))


def count(out):
    con = duckdb.connect()
    (rows,) = con.execute(f"SELECT count(*) FROM read_parquet({quoted(out + '/**/*.parquet')})").fetchone()
    print(rows)


if __name__ == "__main__":
    if sys.argv[1:2] == ["job"] and len(sys.argv) == 5:
        job(*sys.argv[2:])
    elif sys.argv[1:2] == ["count"] and len(sys.argv) == 3:
        count(sys.argv[2])
    else:
        sys.exit(__doc__)
