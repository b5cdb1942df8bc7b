/**
 * The queues Orders and Inventory exchange messages through. A module of its own, without zod, because the
 * Functions entry point needs the names to register the queue triggers before any message code is loaded.
 */
export const QUEUES = {
  /** OrderPlaced | OrderCancelled, consumed by Inventory. */
  reservations: 'inventory-reservations',
  /** InventoryReserved | InventoryRejected | InventoryFailed | StockReleased, consumed by Orders. */
  orderStatus: 'order-status',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];
