-- tarn's lake at s3://tarn-lake/prod: 2 Delta table(s), registered in Athena.
-- The engine reads each table's _delta_log (protocol reader 1 / writer 2), never a folder listing.
-- tarn's Lake functions (json_extract_scalar, element_at, from_iso8601_timestamp, …) are Trino's own
CREATE DATABASE IF NOT EXISTS security;
CREATE EXTERNAL TABLE IF NOT EXISTS security.aws_cloudtrail
LOCATION 's3://tarn-lake/prod/aws_cloudtrail/'
TBLPROPERTIES ('table_type' = 'DELTA');
CREATE EXTERNAL TABLE IF NOT EXISTS security.snyk_orgaudit
LOCATION 's3://tarn-lake/prod/snyk_orgaudit/'
TBLPROPERTIES ('table_type' = 'DELTA');
