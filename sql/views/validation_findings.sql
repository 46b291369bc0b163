-- Every rule broken in the last data-quality check of each step: which rows (scope), table, column, rule, how many rows and examples.
-- order: validated_at DESC, step, table_name, column_name, rule
WITH last AS (SELECT step, max(validated_at) AS validated_at FROM validations GROUP BY step)
SELECT v.step, v.run_id, v.validated_at, v.scope, v.table_name, v.column_name, v.rule, v.unexpected_count, v.detail
FROM validations v JOIN last l ON v.step = l.step AND v.validated_at = l.validated_at
WHERE NOT v.success
