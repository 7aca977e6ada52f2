-- model: shared_macros
-- kind: macros
-- description: Scalar macros more than one model group calls; run before every group, persisted
--   in the warehouse so analysts' read-only connections can call them too.
--
-- The most frequent non-null value, ties to the smallest: mode() breaks ties arbitrarily, which
-- made two builds of the same data differ. Used by the firewall and tuning models.
CREATE OR REPLACE MACRO stable_mode(x) AS (
    list_sort(list_transform(map_entries(histogram(x)), lambda e: {'n': -(e.value::BIGINT), 'v': e.key}))[1]
).v;
