-- The billing database the agents work on. `overdue_invoices` lists every unpaid invoice past its due date,
-- whatever the state of the customer's account: a reminder must also check `active`.
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    active INTEGER NOT NULL  -- 0: the account was closed; such customers must never be contacted
);
CREATE TABLE invoices (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    amount REAL NOT NULL,
    due_date TEXT NOT NULL,
    paid INTEGER NOT NULL DEFAULT 0
);
CREATE VIEW overdue_invoices AS
    SELECT i.id AS invoice_id, c.id AS customer_id, c.name, c.email, c.active, i.amount, i.due_date
    FROM invoices i JOIN customers c ON c.id = i.customer_id
    WHERE i.paid = 0 AND i.due_date < '2026-11-01';

INSERT INTO customers VALUES
    (1, 'Ada Lovelace', 'ada@example.com', 1),
    (2, 'Grace Hopper', 'grace@example.com', 1),
    (3, 'Dana Closed', 'dana@example.com', 0),
    (4, 'Alan Turing', 'alan@example.com', 1),
    (5, 'Evan Gone', 'evan@example.com', 0);
INSERT INTO invoices (id, customer_id, amount, due_date, paid) VALUES
    (101, 1, 120.00, '2026-10-01', 0),
    (102, 2, 80.50, '2026-10-15', 0),
    (103, 3, 42.00, '2026-09-20', 0),
    (104, 4, 300.00, '2026-12-01', 0),
    (105, 5, 15.00, '2026-10-05', 0),
    (106, 4, 99.00, '2026-09-01', 1);
