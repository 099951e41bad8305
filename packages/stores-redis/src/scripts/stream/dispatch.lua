-- The operation named by ARGV[4], with the arguments after it; the last part of the script.

local args = {}
for i = 5, #ARGV do args[#args + 1] = ARGV[i] end
if OP == 'create' then return create(args) end
if OP == 'append' then return append(args) end
if OP == 'read' then return read(args) end
if OP == 'head' then return head(args) end
if OP == 'tail' then return tail(args) end
if OP == 'close' then return close_stream(args) end
if OP == 'delete' then return delete(args) end
if OP == 'cleanup' then return cleanup(args) end
return fail('INTERNAL', 'unknown operation ' .. OP)
