export type { ConnectionVars, Group, Host, Inventory, VarValue, Vars } from './types.js';
export { detectInventoryFormat, loadInventory, parseInventoryText, type InventoryFormat } from './load.js';
export { connectionVars, groupsInPrecedenceOrder, hostVars, inventoryVars, mergeVars } from './vars.js';
export { limitHosts, selectHosts, splitPattern } from './pattern.js';
export { inventoryList, type InventoryList, type InventoryListGroup } from './list.js';
export { COMMAND_LINE, parseExtraVars } from './extra-vars.js';
