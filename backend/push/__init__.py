"""Web Push delivery: VAPID keys, device subscriptions, and the workers that send nudges."""
