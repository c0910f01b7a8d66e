"""The volunteers' task feed (`GET /tasks/available`): open orders to grab and activities to sign up for,
nearest first. It sits above orders and activities and reads their models; neither imports it."""
