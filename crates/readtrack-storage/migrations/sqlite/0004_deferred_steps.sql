-- A step that fell due outside the recipient's working time waits for it: `due_at` moves
-- to the next working instant and `deferred_from` keeps the time the plan gave, so the
-- wait can be worked out again when the clock is moved back (`undo_deferrals`).
ALTER TABLE due_steps ADD COLUMN deferred_from INTEGER;
