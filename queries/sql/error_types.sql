-- error_types (internal series of the new_error_type alert): how often each error.type was seen,
-- by events' own ts. value = error.type, n = events.
SELECT {select_groups}
    json_extract_string(error, '$.type') AS value,
    count(*) AS n
FROM events
WHERE error IS NOT NULL AND json_extract_string(error, '$.type') IS NOT NULL
  AND ts >= $since AND ts < $until
    {where}
GROUP BY ALL
ORDER BY ALL
