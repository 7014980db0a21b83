"""The physical warehouse: layout, items, stock, reservation, routing. Sits below orders/."""
