// @azure/functions ships as a bundled CommonJS module whose named exports Node's ESM loader cannot see, so the
// values are taken from its default export here, once. Types can still be imported from the package directly.
import azureFunctions from '@azure/functions';

export const { app, HttpRequest, HttpResponse, InvocationContext } = azureFunctions;
