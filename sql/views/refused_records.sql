-- What the steps refused, per step, record kind, reason and job: records refused, the files they came from, and one example (file and place).
-- order: records DESC, step, record_kind, reason_code, job_name
SELECT step, record_kind, reason_code, job_name, count(*) AS records, count(DISTINCT source_uri) AS files,
       min(source_uri) AS example_file, min_by(locator, concat(source_uri, ' ', locator)) AS example_locator
FROM rejected
GROUP BY step, record_kind, reason_code, job_name
