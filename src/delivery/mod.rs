//! Delivering notices: a worker takes due deliveries from the outbox (`deliveries`) and
//! sends them by email (SMTP) or webhook. Not built yet.
