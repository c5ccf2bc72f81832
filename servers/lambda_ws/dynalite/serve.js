// dynalite on one address: its own cli.js has no --host and listens on every interface.
// Tables are ACTIVE at once (DynamoDB takes seconds; nothing here measures table creation).
const [host, port] = process.argv.slice(2);
const dynalite = require("dynalite");
const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.listen(Number(port), host);
