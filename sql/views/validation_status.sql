-- The last data-quality check of each step (validate, ingest, workers, quality, audit): when, rules checked and broken, and whether the gate passed, failed (nothing committed) or warned.
-- order: validated_at DESC, step
WITH last AS (SELECT step, max(validated_at) AS validated_at FROM validations GROUP BY step),
checked AS (
    SELECT v.step, v.run_id, max(v.validated_at) AS validated_at, count(DISTINCT v.table_name) AS tables,
           count(*) AS rules, CAST(sum(CASE WHEN v.success THEN 0 ELSE 1 END) AS bigint) AS broken
    FROM validations v JOIN last l ON v.step = l.step AND v.validated_at = l.validated_at
    GROUP BY v.step, v.run_id
)
SELECT c.step, c.run_id, c.validated_at, c.tables, c.rules, c.broken, r.status AS run_status,
       CASE WHEN c.broken = 0 THEN 'passed' WHEN r.status = 'failed' THEN 'failed' ELSE 'warned' END AS gate
FROM checked c LEFT JOIN runs r ON r.run_id = c.run_id
