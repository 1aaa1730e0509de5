-- tarn's lake at s3://tarn-lake/prod: 2 Delta table(s), registered in Trino.
-- The engine reads each table's _delta_log (protocol reader 1 / writer 2), never a folder listing.
-- tarn's Lake functions (json_extract_scalar, element_at, from_iso8601_timestamp, …) are Trino's own
-- In a catalog named delta using the delta_lake connector (delta.register-table-procedure.enabled=true).
CREATE SCHEMA IF NOT EXISTS delta.security;
CALL delta.system.register_table(schema_name => 'security', table_name => 'aws_cloudtrail', table_location => 's3://tarn-lake/prod/aws_cloudtrail');
CALL delta.system.register_table(schema_name => 'security', table_name => 'snyk_orgaudit', table_location => 's3://tarn-lake/prod/snyk_orgaudit');
