/**
 * The seed catalog: the products (and their starting stock) that migration 002_inventory.sql inserts. Migrations
 * are applied SQL and never edited, so this module is the copy that code reads: tests, the bench and the chaos
 * tool. test/integration/seed-catalog.test.ts checks that it equals what a migrated database holds.
 */
export interface SeedProduct {
  productId: string;
  name: string;
  available: number;
}

export const SEED_CATALOG: readonly SeedProduct[] = [
  { productId: 'PROD-001', name: 'PlayStation 5', available: 100 },
  { productId: 'PROD-002', name: 'Xbox Series X', available: 75 },
  { productId: 'PROD-003', name: 'Nintendo Switch', available: 150 },
  { productId: 'PROD-004', name: 'ASUS ROG laptop', available: 50 },
  { productId: 'PROD-005', name: 'SteelSeries headset', available: 200 },
];

/** The seed products' ids, in catalog order. */
export const SEED_PRODUCT_IDS: readonly string[] = SEED_CATALOG.map((p) => p.productId);

/** product id → starting stock. */
export const SEED_STOCK: Readonly<Record<string, number>> = Object.fromEntries(
  SEED_CATALOG.map((p) => [p.productId, p.available]),
);
