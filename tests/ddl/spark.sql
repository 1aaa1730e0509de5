-- tarn's lake at s3://tarn-lake/prod: 2 Delta table(s), registered in Spark.
-- The engine reads each table's _delta_log (protocol reader 1 / writer 2), never a folder listing.
-- json_extract_scalar(j, '$.a') -> get_json_object(j, '$.a')
-- json_extract(j, '$.a') -> get_json_object(j, '$.a')
-- from_iso8601_timestamp(s) -> to_timestamp(s)
-- to_unixtime(t) -> unix_timestamp(t)
-- from_unixtime(n) -> timestamp_seconds(n)
-- date_add('day', n, t) -> t + make_interval(0, 0, 0, n)
-- date_diff('second', a, b) -> unix_timestamp(b) - unix_timestamp(a)
-- count_if(c) -> count_if(c) (Spark 3+)
-- ip_in_cidr is tarn's own: no Spark equivalent
-- With delta-spark on the classpath (spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension).
CREATE DATABASE IF NOT EXISTS security;
CREATE TABLE IF NOT EXISTS security.aws_cloudtrail USING DELTA LOCATION 's3://tarn-lake/prod/aws_cloudtrail';
CREATE TABLE IF NOT EXISTS security.snyk_orgaudit USING DELTA LOCATION 's3://tarn-lake/prod/snyk_orgaudit';
