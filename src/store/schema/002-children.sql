-- The run store, version 2: the runs of `call` nodes are runs of their own, linked to the run
-- that called them, and a run pins the texts of every flow it calls.

-- The flows a flow's `call` nodes name, as a JSON object: the name the node gives → the hash of
-- the flow pinned under it (NULL: it calls none). A flow is kept by the hash of its text and
-- its calls together.
ALTER TABLE flows ADD COLUMN calls TEXT;

-- A child run is known by its parent, the parent's step that ran the `call` node, and (with
-- `for_each`) the element's index; a resumed parent finds its children by them.
ALTER TABLE runs ADD COLUMN parent_node TEXT;
ALTER TABLE runs ADD COLUMN parent_step BIGINT;
ALTER TABLE runs ADD COLUMN parent_index BIGINT;
CREATE INDEX runs_children ON runs (parent, parent_step, parent_index) WHERE parent IS NOT NULL;
