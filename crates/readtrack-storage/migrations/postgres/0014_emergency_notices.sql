-- Emergency notices (typhoon, safety): why the sender marked it one. Such a notice is
-- urgent, goes out at any hour and its reminders run on wall-clock minutes.
ALTER TABLE messages ADD COLUMN emergency_reason TEXT;
