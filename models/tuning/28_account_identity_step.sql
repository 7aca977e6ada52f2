-- model: tuning_account_identity_next
-- kind: scratch
-- phase: fit
-- grain: tenant × account form
-- key: tenant, form
-- depends_on: tuning_account_identity, tuning_account_edges
-- feeds: tuning_account_identity
-- repeat_until: tuning_account_identity_changes.changed = 0
-- description: One label-propagation step: each form takes the smallest identity of its linked forms.
-- model: tuning_account_identity_changes
-- kind: scratch
-- phase: fit
-- grain: one row: how many forms changed identity in this step
-- depends_on: tuning_account_identity_next
-- description: The forms whose identity the last step changed (0: the identities are merged).
--
-- One label-propagation step of tuning_account_identity (see 27_account_identities.sql): every
-- form takes the smallest identity among itself and the forms it is linked to. Repeated until no
-- identity changes; tuning_account_identity_changes holds how many changed in this step.
CREATE OR REPLACE TEMP TABLE tuning_account_identity_next AS
SELECT i.tenant, i.form, least(i.identity, coalesce(min(n.identity), i.identity)) AS identity
FROM tuning_account_identity AS i
LEFT JOIN tuning_account_edges AS e ON e.tenant = i.tenant AND e.form_a = i.form
LEFT JOIN tuning_account_identity AS n ON n.tenant = e.tenant AND n.form = e.form_b
GROUP BY i.tenant, i.form, i.identity;

CREATE OR REPLACE TEMP TABLE tuning_account_identity_changes AS
SELECT count(*) AS changed
FROM tuning_account_identity_next AS x
JOIN tuning_account_identity AS i USING (tenant, form)
WHERE x.identity <> i.identity;

CREATE OR REPLACE TEMP TABLE tuning_account_identity AS SELECT * FROM tuning_account_identity_next;
